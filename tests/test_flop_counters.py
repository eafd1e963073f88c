"""The MAC count the study stands on (fvcore's, :func:`effscale_timm.flops.count_macs`) agrees with PyTorch's own
``torch.utils.flop_counter.FlopCounterMode`` on the convolutions and linear layers of B0 and of one variant of each
axis, so that a future torch that breaks fvcore's ``torch.jit`` tracing (fvcore's last release is from 2022), or a
change in either counter, shows here.

Both count a convolution as output elements × input channels per group × kernel area multiply-adds (bias left out)
and a linear layer as batch × in × out; FlopCounterMode reports FLOPs = 2 × MACs. The counts are exact integers over
the same shapes, so they must agree to the last multiply-add; the relative tolerance of 1e-9 only absorbs fvcore's
float sums."""
import pytest
import timm
import torch
from torch.utils.flop_counter import FlopCounterMode

from effscale_timm.flops import count_macs

BASE = 64
pytestmark = pytest.mark.usefixtures('one_thread')


def _torch_macs(model, input_size):
    """{'conv': MACs, 'linear': MACs} of one image by FlopCounterMode (FLOPs / 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_size))
    ops = {str(op): n for op, n in counter.get_flop_counts()['Global'].items()}
    conv = sum(n for op, n in ops.items() if 'convolution' in op)
    linear = sum(n for op, n in ops.items() if op.split('.')[1] in ('addmm', 'mm', 'bmm'))
    assert conv + linear == counter.get_total_flops(), ops  # nothing else was counted
    return {'conv': conv / 2, 'linear': linear / 2}


@pytest.mark.parametrize('name', ['effscale_b0', 'effscale_depth_b0', 'effscale_width_b0', 'effscale_resolution_b0',
                                  'effscale_compound_b0'])
def test_fvcore_macs_equal_flop_counter_modes(name):
    model = timm.create_model(name, num_classes=10, base_resolution=BASE).eval()
    input_size = model.pretrained_cfg['input_size']
    fv = count_macs(model, input_size)
    theirs = _torch_macs(model, input_size)
    assert fv['by_operator']['conv'] == pytest.approx(theirs['conv'], rel=1e-9)
    assert fv['by_operator']['linear'] == pytest.approx(theirs['linear'], rel=1e-9)
    assert fv['conv_linear'] == pytest.approx(theirs['conv'] + theirs['linear'], rel=1e-9)
    assert theirs['linear'] == model.num_features * 10  # the classifier, the one linear layer
