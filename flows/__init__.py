"""Prefect flows: schedules and lifecycles.

A worker imports this package before any flow, so no log line of a flow run (Prefect's run
logger included) carries an inspector's or a coordinator's token (see ``shuangsui.logsafe``).
"""

from shuangsui import logsafe, wiring

logsafe.install()
# a misspelt SHUANGSUI_* variable of the worker's, or a setting's bad value, stops the run at
# once, naming it
wiring.check_settings()
