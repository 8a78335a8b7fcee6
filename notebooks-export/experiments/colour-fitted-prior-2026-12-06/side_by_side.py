#!/usr/bin/env python3
"""LEFT.png and RIGHT.png side by side, 12 white pixels between: OUT.png.

    python side_by_side.py LEFT.png RIGHT.png OUT.png"""
import sys

from PIL import Image

left, right = (Image.open(p) for p in sys.argv[1:3])
out = Image.new("RGB", (left.width + right.width + 12, max(left.height, right.height)), (255, 255, 255))
out.paste(left, (0, 0))
out.paste(right, (left.width + 12, 0))
out.save(sys.argv[3])
