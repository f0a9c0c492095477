//! `runner new`: a commented starter pipeline that validates once its data is in place.

use crate::arch::Arch;

/// A starter pipeline for `arch`, every key explained.
pub fn starter_pipeline(arch: Arch) -> String {
    let layers = arch.layer_names();
    let last = &layers[layers.len() - 1];
    format!(
        r#"# A runner pipeline. Paths are relative to this file.
# Check it with `runner validate FILE`; run it with `runner run FILE`.
# Editors: associate schemas/pipeline.schema.json with this file for completion.

[pipeline]
name = "my_pipeline"   # runs are listed and compared by this name
seed = 42              # seeds initialization, shuffling, augmentation and dropout

[data]
train = "../data/cats_and_dogs/train"            # one subfolder of images per class
validation = "../data/cats_and_dogs/validation"  # the same class subfolders; never augmented
image_size = [224, 224]                          # [height, width] images are resized to
batch_size = 32

[backbone]
arch = "{arch}"
weights = "../weights/efficientnet-lite0-57934424.pth"  # or "none" to train from scratch
cut = "{last}"          # the last layer kept: {first} .. {last}
freeze = "all"          # "all", "none", or {{ from = "{first}", to = "{middle}" }}

# The new head, in order; the last layer gives the class scores.
[[head]]
type = "global_avg_pool"   # or "flatten"
[[head]]
type = "dense"
units = 256
activation = "relu"        # linear, relu, sigmoid, softmax
[[head]]
type = "dropout"
rate = 0.2
[[head]]
type = "dense"
units = 1                  # two classes: one sigmoid unit; N classes: N softmax units
activation = "sigmoid"

[augment]                  # training images only
horizontal_flip = true
vertical_flip = false

[train]
optimizer = {{ type = "adam", lr = 1e-3 }}   # or rmsprop, sgd (Keras names and defaults)
loss = "binary_crossentropy"                 # or categorical_crossentropy
metrics = ["accuracy"]
epochs = 5
"#,
        arch = arch.name(),
        first = layers[0],
        middle = layers[layers.len() / 2],
    )
}
