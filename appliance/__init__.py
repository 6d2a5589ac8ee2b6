"""What every device program shares with the operating system: its settings file, systemd readiness."""
