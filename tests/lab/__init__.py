"""The Lab test: every chapter executed and its explorer driven in a real JupyterLab (`make labtest`)."""
