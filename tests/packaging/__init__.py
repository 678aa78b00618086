"""Building and installing the package as a user or the image would."""
