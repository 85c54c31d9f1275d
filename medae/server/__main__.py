"""``python -m medae.server``: start the team tracking server (see :mod:`medae.server.team_server`)."""

from medae.server.team_server import main

main()
