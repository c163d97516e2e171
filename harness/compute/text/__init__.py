"""The text side: prompt templates as data (.templates), text embeddings through a model's text tower
(.encode), and the ranked metrics of a text query against an image gallery (.metrics)."""
