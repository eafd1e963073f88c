"""A trained effscale model comes back equal through timm's own loading routes: ``pretrained_cfg_overlay`` with the
run's ``model.pt`` or the exported ``model.safetensors``, and the Hub-ready folder (``local-dir:``) in a fresh
process, where a variant defined at run time is registered from the folder's ``scaling``.

The reference is the trained weights as the epoch checkpoint holds them (opened with plain ``torch.load``), not
``model.pt``: the check does not lean on the writer it checks. The paper recipe, because its ``bn_eps`` (1e-3) and
EMA weights are what a careless export gets wrong."""
import json
import subprocess
import sys

import pytest
import timm
import torch

import effscale_timm
from conftest import cli_env, effscale
from effscale_timm.files.hub_folder import HUB_DIR, HUB_FILES, register_exported
from effscale_timm.train.engine import train_run
from effscale_timm.train.options import RunConfig

NAME = 'hub_test_tiny'  # a variant defined at run time, as a config's {name, depth, width} is
CLASSES, CHANS, BASE = 10, 1, 32
pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def trained(digits_npz, tmp_path_factory):
    """(run folder, epoch checkpoint) of one epoch of the paper recipe on 64 digits."""
    root = tmp_path_factory.mktemp('hub')
    cfg = RunConfig(variant=NAME, depth=0.25, width=0.25, data=str(digits_npz), out_dir=str(root / 'run'), epochs=1,
                    batch_size=16, base_resolution=BASE, max_train_samples=64, max_eval_samples=64, device='cpu',
                    recipe='paper', ckpt_root=str(root / 'ckpt'), hflip=False)
    record = train_run(cfg)
    assert record.status == 'ok'
    return root / 'run', root / 'ckpt' / record.run_key / 'last.pt'


def _inputs():
    return torch.randn(4, CHANS, BASE, BASE, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope='module')
def weights(trained):
    """The trained (EMA) weights as the epoch checkpoint holds them."""
    state = torch.load(trained[1])  # a plain torch file, weights_only
    return {k[len('module.'):]: v for k, v in state['ema'].items()}


@pytest.fixture(scope='module')
def reference(weights):
    """The outputs of the trained weights in a model built as training built it."""
    model = timm.create_model(NAME, num_classes=CLASSES, in_chans=CHANS, base_resolution=BASE, bn_eps=1e-3).eval()
    model.load_state_dict(weights)
    with torch.no_grad():
        return model(_inputs())


@pytest.mark.parametrize('file', ['model.pt', f'{HUB_DIR}/model.safetensors'])
def test_timm_pretrained_cfg_overlay_gives_the_trained_model(trained, reference, file):
    model = timm.create_model(NAME, pretrained=True, num_classes=CLASSES, in_chans=CHANS, base_resolution=BASE,
                              bn_eps=1e-3,
                              pretrained_cfg_overlay=dict(file=str(trained[0] / file), num_classes=CLASSES)).eval()
    with torch.no_grad():
        assert torch.equal(model(_inputs()), reference)


def test_the_run_folder_holds_a_hub_ready_folder(trained):
    config = json.loads((trained[0] / HUB_DIR / 'config.json').read_text())
    assert sorted(p.name for p in (trained[0] / HUB_DIR).iterdir()) == sorted(HUB_FILES)
    assert config['architecture'] == NAME and config['num_classes'] == CLASSES
    assert {k: config['model_args'][k] for k in ('num_classes', 'in_chans', 'base_resolution', 'bn_eps')} == \
        {'num_classes': CLASSES, 'in_chans': CHANS, 'base_resolution': BASE, 'bn_eps': 1e-3}
    cfg = config['pretrained_cfg']
    assert cfg['input_size'] == [CHANS, BASE, BASE] and cfg['scaling']['depth'] == 0.25 and cfg['mean'] != [0.5]
    assert config['label_names'] == [str(i) for i in range(10)] and config['effscale']['status'] == 'ok'


FRESH = r'''
import sys, timm, torch, effscale_timm
torch.set_num_threads(1)
out = {}
for folder in sys.argv[2:]:
    effscale_timm.register_exported(folder)  # the one call a variant defined at run time needs
    model = timm.create_model('local-dir:' + folder, pretrained=True).eval()
    data = timm.data.resolve_data_config({}, model=model)
    with torch.no_grad():
        out[folder] = (model(torch.load(sys.argv[1])), data['input_size'], model.pretrained_cfg['scaling'],
                       model.state_dict())
torch.save(out, sys.argv[1] + '.out')
'''


@pytest.mark.slow
def test_exported_folder_gives_the_trained_model_in_a_fresh_process(trained, weights, reference, tmp_path):
    """Bit-equal weights, and outputs equal to float rounding (another process may sum in another order)."""
    effscale('export', '--run', trained[0], '--out', tmp_path / 'export')
    x = tmp_path / 'x.pt'
    torch.save(_inputs(), x)
    folders = [str(tmp_path / 'export'), str(trained[0] / HUB_DIR)]
    proc = subprocess.run([sys.executable, '-c', FRESH, str(x), *folders], capture_output=True, text=True,
                          env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = torch.load(f'{x}.out')
    for folder in folders:
        logits, input_size, scaling, state = out[folder]
        assert state.keys() == weights.keys() and all(torch.equal(state[k], weights[k]) for k in weights), folder
        torch.testing.assert_close(logits, reference, rtol=1e-5, atol=1e-6)
        assert input_size == (CHANS, BASE, BASE) and scaling['width'] == 0.25


def test_export_refuses_a_folder_without_a_trained_model(tmp_path):
    from effscale_timm.export import export_run
    with pytest.raises(ValueError, match='no model.pt there'):
        export_run(tmp_path, tmp_path / 'out')


def test_a_folder_made_for_other_multipliers_is_refused(trained, tmp_path):
    """Weights exported as ``effscale_b0`` with other multipliers are not built as this process's effscale_b0."""
    folder = tmp_path / 'other'
    folder.mkdir()
    config = json.loads((trained[0] / HUB_DIR / 'config.json').read_text())
    config['architecture'] = 'effscale_b0'
    (folder / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='already registered'):
        register_exported(folder)
    with pytest.raises(ValueError, match='registered here as'):
        timm.create_model(f'local-dir:{folder}', pretrained=True)
    del config['pretrained_cfg']['scaling']
    (folder / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='not an effscale export'):
        effscale_timm.register_exported(folder)
