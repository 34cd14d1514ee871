"""What an operator runs besides the server: checks, migrations, stats, backups (`chatql ...`)."""
