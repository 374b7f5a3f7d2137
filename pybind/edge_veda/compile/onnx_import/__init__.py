"""Importing ONNX graphs into Relax with TVM 0.27: what its ONNX frontend lacks or gets wrong.

Generic, not tied to one model (recipes use them; recipes/kokoro.py is the first):

* dequantize.py    onnxruntime's dynamic int8 patterns -> the float ops they were made from
* converters.py    converters added to the frontend for one import (LSTM, Resize, Slice)
* lstm.py          ONNX LSTM as Relax + a TIR recurrence over a symbolic length (converters.py)
"""
