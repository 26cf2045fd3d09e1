"""The gallery in a real headless browser: it loads clean and every sound plays."""

import os
import shutil

import numpy as np
import pytest
import soundfile
from test_inference import CLASSES, RATE, make_model_folder

from speechbrain_protos.gallery import read_test_manifest, write_gallery
from speechbrain_protos.inference import PrototypeClassifier

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Chromium on a closed network: no background connections (the machine
# refuses them), no sandbox as root, a fresh profile.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)


def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (tests/tools/apt_install.sh "
            "installs Debian's chromium and chromium-driver where apt-get works)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


AUDIO_DURATIONS = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
Promise.all(players.map(a => new Promise(resolve => {
    if (a.readyState >= 1) { resolve(a.duration); return; }
    a.addEventListener('loadedmetadata', () => resolve(a.duration));
    a.addEventListener('error', () => resolve(-1));
    a.load();
}))).then(done);
"""


@pytest.fixture
def gallery(tmp_path, librispeech_flac):
    folder, _ = make_model_folder(tmp_path / "model")
    model = PrototypeClassifier.from_hparams(source=folder)
    speech, rate = soundfile.read(str(librispeech_flac), dtype="float32")
    clips = tmp_path / "clips"
    clips.mkdir()
    rows = ["path,label"]
    for number, label in enumerate(CLASSES):
        start = number * RATE
        soundfile.write(str(clips / f"{label}.wav"), speech[start : start + RATE], rate)
        rows.append(f"clips/{label}.wav,{label}")
    manifest = tmp_path / "test.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return write_gallery(
        model, str(tmp_path / "gallery"), read_test_manifest(str(manifest)), seconds=0.5
    )


def test_gallery_has_everything(gallery):
    assert len(gallery["prototypes"]) == 3 and len(gallery["examples"]) == 3
    for entry in gallery["prototypes"]:
        audio, rate = soundfile.read(entry["wav"])
        assert rate == RATE and np.abs(audio).max() > 0.5
        assert os.path.getsize(entry["png"]) > 5000
    for entry in gallery["examples"]:
        for key in ("input", "reconstruction", "transfer", "figure"):
            assert os.path.getsize(entry[key]) > 1000, key
        assert entry["transfer_label"] != entry["chosen"]
    scores = gallery["scores"]
    assert sum(clips for _, clips in scores["per_class"].values()) == 3
    assert int(scores["confusion"].sum()) == 3
    page = open(gallery["index"], encoding="utf-8").read()
    assert "http" not in page  # nothing fetched from the internet
    assert page.count("<audio") == 3 + 3 * 3


def test_gallery_in_a_headless_browser(gallery):
    driver = browser()
    try:
        driver.set_script_timeout(60)
        driver.get("file://" + gallery["index"])
        durations = driver.execute_async_script(AUDIO_DURATIONS)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => i.naturalWidth)"
        )
        errors = [
            entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
        ]
        screenshot = os.path.join(os.path.dirname(gallery["index"]), "screenshot.png")
        driver.set_window_size(1200, 2000)
        driver.save_screenshot(screenshot)
    finally:
        driver.quit()
    assert errors == []
    assert len(durations) == 12 and all(d > 0 for d in durations), durations
    assert images and all(width > 0 for width in images), images
    assert os.path.getsize(screenshot) > 10000


def test_gallery_cli(tmp_path, gallery):
    from speechbrain_protos.__main__ import main

    model_folder, _ = make_model_folder(tmp_path / "cli_model")
    clip = gallery["examples"][0]["input"]
    out = tmp_path / "cli_gallery"
    assert main(["gallery", model_folder, "--out", str(out), "--examples", clip]) == 0
    assert (out / "index.html").is_file()
    assert len(list((out / "examples").glob("*_transfer.wav"))) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\nx.wav,cello\n")
    code = main(
        ["gallery", model_folder, "--out", str(out), "--test-manifest", str(bad)]
    )
    assert code == 1
    shutil.rmtree(out)


def test_manifest_labels_must_be_model_classes(tmp_path, gallery):
    folder, _ = make_model_folder(tmp_path / "m2")
    model = PrototypeClassifier.from_hparams(source=folder)
    clip = gallery["examples"][0]["input"]
    with pytest.raises(ValueError, match="tuba"):
        write_gallery(model, str(tmp_path / "g2"), [(clip, "tuba")], seconds=0.3)
