"""Importing ONNX graphs into Relax with TVM 0.27: what its ONNX frontend lacks or gets wrong.

Generic, not tied to one model (recipes use them; recipes/kokoro.py is the first):

* graph.py         ONNX graph editing: an index with queued replacements, node attributes,
                   subgraph extraction, tensor renaming
* dequantize.py    onnxruntime's dynamic int8 patterns -> the float ops they were made from
* relax_import.py  ONNX graph -> Relax module with the weights as parameters; several imported
                   graphs merged into one module
* converters.py    converters added to the frontend for one import (LSTM, Resize, Slice)
* lstm.py          ONNX LSTM as Relax + a TIR recurrence over a symbolic length (converters.py)
"""
