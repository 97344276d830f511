"""The node side: the spec as an Ansible inventory and role variables, bring-up through ansible-runner, and the parsers of what nodes report."""
