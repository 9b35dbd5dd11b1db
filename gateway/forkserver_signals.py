"""Preloaded by the intake's fork server, and imported nowhere else: on import, the process
ignores SIGINT and SIGTERM (:func:`creditlink.gateway.workers.ignore_stop_signals`).

The fork server imports it before it forks any worker, so the fork server survives a stop
signal sent to the gateway's whole process group (Ctrl+C, systemd's default stop) and every
worker starts with the signals already ignored. Importing it in the gateway's own process
would make that process deaf to them: only ``workers._context`` names it.
"""

from creditlink.gateway.workers import ignore_stop_signals

ignore_stop_signals()
