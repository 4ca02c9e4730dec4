"""Integration tests: the modules run through ansible-playbook on the local machine."""
