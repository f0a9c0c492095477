"""Reads `runner export-logs --tensorboard DIR` output back with TensorBoard's own reader, as
an independent check of the event files: prints one JSON object per run folder,

    {"RUN": {"train": {TAG: [[step, value], ...]}, "validation": {...},
             "hparams": {NAME: value}, "group": ..., "status": ...}}

    python tests/reference/read_tensorboard.py DIR
"""

import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2


def scalars(folder):
    accumulator = EventAccumulator(folder)
    accumulator.Reload()
    return {
        tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def session(folder):
    accumulator = EventAccumulator(folder)
    accumulator.Reload()
    found = {}
    for tag, content in accumulator.PluginTagToContent("hparams").items():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            start = data.session_start_info
            found["group"] = start.group_name
            found["hparams"] = {
                name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
                for name, value in start.hparams.items()
            }
        if data.HasField("session_end_info"):
            found["status"] = api_pb2.Status.Name(data.session_end_info.status)
    return found


def main():
    root = sys.argv[1]
    runs = {}
    for run in sorted(os.listdir(root)):
        folder = os.path.join(root, run)
        runs[run] = {
            "train": scalars(os.path.join(folder, "train")),
            "validation": scalars(os.path.join(folder, "validation")),
            **session(folder),
        }
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
