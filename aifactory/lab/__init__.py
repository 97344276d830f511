"""The lab: local stand-ins for a factory's outside world, for offline dress rehearsals.

Stand-ins (each named as one in output): moto_server for AWS, sushy-emulator (fake driver) for the
BMCs, and booted Debian 13 systemd-nspawn containers in their own network namespaces for the nodes.
`aifactory lab up/status/down` drive them; `aifactory rehearse` runs a whole deployment against them.
"""
