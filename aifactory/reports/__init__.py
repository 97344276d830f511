"""What people and CI read: the HTML report, the change preview, SARIF and JUnit."""
