"""Prefect flows: schedules and lifecycles.

A worker imports this package before any flow, so no log line of a flow run (Prefect's run
logger included) carries an inspector's or a coordinator's token (see ``shuangsui.logsafe``).
"""

from shuangsui import logsafe

logsafe.install()
