"""Measurement machinery of the cost suite: timers and statistics, batch-size search, FLOPs, memory,
the machine's load, and the price table. Each module is small and testable on its own; importing this
package imports nothing heavy.
"""
