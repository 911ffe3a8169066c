"""The bureau's web workspace: server-rendered pages for inspectors (on their phones) and
coordinators (at their desks), on top of the findings service and the API's roles.

Pages live under ``/w``; they are jinja2 templates in Chinese that work with JavaScript off.
"""
