"""Training pieces: anchor assignment, the loss, and a short fit on labelled synthetic scenes."""

import cv2
import numpy as np
from ros2_infer.core.decoders import decode_yolov8
from ros2_infer.core.metrics import coco_map
from ros2_infer.core.preprocess import Preprocessor
from ros2_infer.core.spec import InputSpec
from ros2_infer.training.detection_loss import anchor_points, assign, DetectionLoss
from ros2_infer.training.detector_training import (DetectionDataset, train_detector,
                                                   WeightAverage)
from ros2_infer.training.generated import synthetic_labelled
from ros2_infer.training.tinydet import TinyDet
import torch


def test_every_box_gets_anchors_inside_it_at_a_fitting_level():
    points, strides, levels = anchor_points([(30, 40), (15, 20), (8, 10)])
    boxes = torch.tensor([[10.0, 10.0, 30.0, 40.0],      # small: finest level
                          [100.0, 20.0, 260.0, 230.0],   # large: coarse level
                          [200.0, 100.0, 203.0, 103.0]])  # tiny: nearest anchor fallback
    assigned = assign(points, strides, levels, boxes, reg_max=8)
    for index, box in enumerate(boxes):
        chosen = assigned == index
        assert chosen.any(), index
        if index < 2:
            inside = ((points[chosen] > box[:2]) & (points[chosen] < box[2:])).all(dim=1)
            assert inside.all()
    assert set(levels[assigned == 0].tolist()) == {0}
    assert set(levels[assigned == 1].tolist()) <= {1, 2} and 2 in levels[assigned == 1]


def test_loss_is_finite_and_backpropagates_with_and_without_objects():
    torch.manual_seed(0)
    model = TinyDet(2)
    loss_fn = DetectionLoss(model)
    images = torch.rand(2, 3, 96, 128)
    targets = [torch.tensor([[0.0, 10.0, 10.0, 50.0, 60.0]]), torch.zeros((0, 5))]
    loss, parts = loss_fn(model.forward_raw(images), targets)
    assert torch.isfinite(loss) and parts['box'] > 0 and parts['cls'] > 0
    loss.backward()
    assert model.heads[0].cls.weight.grad.abs().sum() > 0


def test_dont_care_boxes_teach_nothing():
    # An ignored box (e.g. an object mostly hidden): no positive anchors, and the anchors it
    # claims are not pushed towards background either.
    torch.manual_seed(0)
    model = TinyDet(2)
    loss_fn = DetectionLoss(model)
    raw = model.forward_raw(torch.rand(1, 3, 96, 128))
    box = [0.0, 10.0, 10.0, 60.0, 70.0]
    _, counted = loss_fn(raw, [torch.tensor([box + [0.0]])])
    _, ignored = loss_fn(raw, [torch.tensor([box + [1.0]])])
    _, empty = loss_fn(raw, [torch.zeros((0, 6))])
    assert counted['box'] > 0 and ignored['box'] == 0
    assert ignored['cls'] < empty['cls']


def test_ignored_ground_truth_stays_as_a_dont_care_target():
    sample = synthetic_labelled(1, seed=3)[0]
    sample.ignore = np.arange(len(sample.boxes)) == 0
    dataset = DetectionDataset([sample], InputSpec(width=320, height=240), augment=False)
    _, targets = dataset[0]
    assert targets[:, 5].tolist() == sample.ignore.astype(float).tolist()


def test_augmented_targets_stay_inside_the_input():
    sample = synthetic_labelled(1, seed=3)[0]
    dataset = DetectionDataset([sample] * 30, InputSpec(width=320, height=240), augment=True)
    lefts = set()
    for index in range(30):
        tensor, targets = dataset[index]
        assert tensor.shape == (3, 240, 320)
        assert targets.shape[1] == 6  # class, box, don't-care flag
        assert set(targets[:, 5].tolist()) <= {0.0}
        assert (targets[:, 1:] >= 0).all() and (targets[:, [1, 3]] <= 320).all()
        assert (targets[:, [2, 4]] <= 240).all()
        assert set(targets[:, 0].long().tolist()) <= set(sample.class_ids.tolist())
        if len(targets):
            lefts.add(round(float(targets[0, 1]), 1))
    assert len(lefts) > 5  # zoom and flip move the boxes


def test_short_training_fits_synthetic_shapes():
    # A capacity check, fast enough for every run: the model must fit a small labelled set.
    # Generalisation is guarded by the bundled model's held-out tests.
    spec = InputSpec(width=128, height=96)
    samples = synthetic_labelled(48, 160, 120, seed=1)
    model, history = train_detector(samples, num_classes=2, input_spec=spec, epochs=25,
                                    batch_size=8, seed=0, augment=False)
    assert history[-1]['loss'] < 0.5 * history[0]['loss']
    preprocess = Preprocessor(spec)
    truth, predictions = [], []
    for sample in samples:
        tensor, transform = preprocess(sample.image)
        with torch.no_grad():
            output = model(torch.from_numpy(tensor)).numpy()
        boxes, scores, classes = decode_yolov8(output, num_classes=2, conf_threshold=0.01,
                                               iou_threshold=0.6, max_detections=50)
        predictions.append((transform.boxes_to_source(boxes), scores, classes))
        truth.append((sample.boxes, sample.class_ids, np.zeros(len(sample.boxes), bool)))
    result = coco_map(truth, predictions, ['rectangle', 'circle'])
    assert result['map50'] > 0.5, result


def test_weight_average_follows_the_weights_and_copies_counters():
    model = TinyDet(2)
    average = WeightAverage(model, decay=0.9, ramp_steps=1e-9)  # ramp off: decay 0.9 at once
    conv = model.heads[0].cls
    start = conv.weight.detach().clone()
    with torch.no_grad():
        conv.weight.add_(1.0)
    model.backbone.stem[1].num_batches_tracked.fill_(7)
    average.update()
    averaged = average.average.heads[0].cls.weight
    assert torch.allclose(averaged, start + 0.1, atol=1e-6)  # 0.9 * old + 0.1 * new
    assert int(average.average.backbone.stem[1].num_batches_tracked) == 7
    assert not averaged.requires_grad and not average.average.training


def test_colour_jitter_tables_match_the_float_formula():
    # The lookup tables replaced shifting and scaling a float HSV copy; same draws, same pixels.
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    dataset = DetectionDataset([], InputSpec(width=64, height=48), augment=True, seed=5)
    reference_rng = np.random.default_rng(5)
    for _ in range(20):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + reference_rng.uniform(0, 180)) % 180
        hsv[..., 1] *= np.exp(reference_rng.uniform(np.log(0.35), np.log(2.0)))
        hsv[..., 2] *= np.exp(reference_rng.uniform(np.log(0.45), np.log(1.4)))
        expected = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
        if reference_rng.random() < 0.1:
            grey = cv2.cvtColor(expected, cv2.COLOR_RGB2GRAY)
            expected = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        assert np.array_equal(dataset._jitter_colours(image), expected)
