# The two commands of the quick start. Both install what is missing first (scripts/install-deps).
.PHONY: run test build lint bench format clean

run:
	@scripts/install-deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release --target strongroom
	@scripts/dev-serve build/release/strongroom

test:
	@scripts/install-deps --test
	cmake --preset dev
	cmake --build --preset dev
	scripts/lint
	cmake --preset asan-ubsan
	cmake --build --preset asan-ubsan --target strongroom_unit_tests
	cmake --preset fuzz
	cmake --build --preset fuzz
	ctest --preset asan-ubsan
	ctest --preset fuzz
	ctest --preset dev

build:
	@scripts/install-deps
	cmake --preset dev
	cmake --build --preset dev

lint:
	@scripts/install-deps --test
	scripts/lint

bench:
	bench/http_health.sh

format:
	find src tests -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build
