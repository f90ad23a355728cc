"""Bottom layer: settings, error types and process-wide offline hygiene.

Owns: the one `Settings` object (every default lives there), the exception hierarchy, and
the environment variables that keep third-party libraries off the network.
Must not: import any other project package, or any heavy library (torch, chromadb, ragas...).
"""
