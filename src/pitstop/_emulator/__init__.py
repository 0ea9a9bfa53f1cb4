"""The provider emulator's parts (private); the public surface is `pitstop.emulator`."""
