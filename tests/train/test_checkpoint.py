"""Checkpoint fallback (effscale_timm.train.checkpoint): a resumed run uses the newest checkpoint that is intact and
starts over (rather than crashing or using a corrupt file) when there is none; the file is a plain torch file."""
import zipfile

import pytest
import torch

from effscale_timm.train.checkpoint import COMMENT_PREFIX, load_latest, save_checkpoint


# --- load_latest ----------------------------------------------------------------------------------------------------

def _two_checkpoints(folder):
    """Epoch 1 then epoch 2 saved: prev.pt holds epoch 1, last.pt epoch 2."""
    save_checkpoint(folder, {'epoch': 1, 'weights': torch.full((3,), 1.0)})
    save_checkpoint(folder, {'epoch': 2, 'weights': torch.full((3,), 2.0)})
    assert sorted(p.name for p in folder.iterdir()) == ['last.pt', 'prev.pt']


def _corrupt(path, truncate=False):
    data = bytearray(path.read_bytes())
    if truncate:
        del data[len(data) // 2:]
    else:
        data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


def test_last_good_checkpoint_is_used(tmp_path):
    _two_checkpoints(tmp_path)
    state = load_latest(tmp_path)
    assert state['epoch'] == 2 and torch.equal(state['weights'], torch.full((3,), 2.0))


@pytest.mark.parametrize('truncate', [False, True], ids=['flipped-byte', 'truncated'])
def test_corrupt_last_falls_back_to_prev(tmp_path, caplog, truncate):
    _two_checkpoints(tmp_path)
    _corrupt(tmp_path / 'last.pt', truncate)
    state = load_latest(tmp_path)
    assert state['epoch'] == 1 and torch.equal(state['weights'], torch.full((3,), 1.0))
    assert 'last.pt is corrupt or truncated' in caplog.text and 'previous good checkpoint' in caplog.text


def test_both_corrupt_starts_over(tmp_path, caplog):
    _two_checkpoints(tmp_path)
    _corrupt(tmp_path / 'last.pt')
    _corrupt(tmp_path / 'prev.pt', truncate=True)
    assert load_latest(tmp_path) is None
    assert 'no usable checkpoint' in caplog.text


def test_empty_or_missing_folder_starts_over(tmp_path):
    assert load_latest(tmp_path) is None
    assert load_latest(tmp_path / 'never-made') is None


# --- the file itself --------------------------------------------------------------------------------------------------

def test_an_epoch_checkpoint_is_a_plain_torch_file(tmp_path):
    """``torch.load`` (weights_only, its default) and ``zipfile`` open it; the checksum is the archive's comment."""
    save_checkpoint(tmp_path, {'epoch': 3, 'model': {'w': torch.arange(4.0)}, 'rng': ('MT19937', [1, 2], 0, 0, 0.0)})
    loaded = torch.load(tmp_path / 'last.pt')
    assert set(loaded) == {'epoch', 'model', 'rng'} and loaded['rng'] == ('MT19937', [1, 2], 0, 0, 0.0)
    assert loaded['epoch'] == 3 and torch.equal(loaded['model']['w'], torch.arange(4.0))
    with zipfile.ZipFile(tmp_path / 'last.pt') as z:
        assert z.testzip() is None and z.comment.startswith(COMMENT_PREFIX)
    assert torch.equal(load_latest(tmp_path)['model']['w'], torch.arange(4.0))


def test_a_flipped_byte_that_torch_load_accepts_is_caught_by_the_checksum(tmp_path, caplog):
    _two_checkpoints(tmp_path)
    marker = torch.full((3,), 2.0).numpy().tobytes()
    data = bytearray((tmp_path / 'last.pt').read_bytes())
    data[data.index(marker) + 1] ^= 0x01  # in epoch 2's weights, stored as raw bytes
    (tmp_path / 'last.pt').write_bytes(bytes(data))
    assert not torch.equal(torch.load(tmp_path / 'last.pt')['weights'], torch.full((3,), 2.0))  # torch.load: fine
    state = load_latest(tmp_path)
    assert state['epoch'] == 1 and 'checksum mismatch' in caplog.text
