"""Neural-network building blocks shared by models (attention, embeddings, FFN)."""
