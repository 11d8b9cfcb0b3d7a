//! Build script: links the addon the way napi-rs needs on each platform.

fn main() {
    napi_build::setup();
}
