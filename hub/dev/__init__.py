"""What only `make run` needs: the dev runner, the embedded servers and the demo data."""
