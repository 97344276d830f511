"""AWX / Ansible Automation Platform: what an installation needs to run a factory past one controller
(`aifactory awx export`)."""
