.PHONY: build test fmt quickstart bench

build:
	swift build

test:
	scripts/test

quickstart:
	scripts/quickstart

fmt:
	swift format --in-place --recursive Sources Tests Package.swift

bench:
	scripts/bench
