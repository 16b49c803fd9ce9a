"""The VendorEmulator: the four vendor wire protocols on loopback, with scripted faults."""
