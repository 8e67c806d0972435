#![allow(clippy::unwrap_used)] // test helpers: a failed setup step should panic
#![allow(dead_code)]

use trustswap::supply::oci::Recipe;

pub fn apk_recipe() -> Recipe {
    serde_json::from_value(serde_json::json!({
        "name": "static",
        "os_release": {
            "id": "wolfi",
            "name": "Wolfi",
            "version_id": "20230201",
            "pretty_name": "Wolfi",
            "home_url": "https://wolfi.dev"
        },
        "package_db": "apk",
        "packages": [
            {"name": "wolfi-baselayout", "version": "20230201-r15", "arch": "x86_64", "license": "MIT"},
            {"name": "ca-certificates-bundle", "version": "20241121-r1", "arch": "x86_64", "license": "MPL-2.0 AND MIT"},
            {"name": "tzdata", "version": "2024b-r0", "arch": "x86_64", "license": "CC-PDDC"}
        ],
        "files": [
            {"path": "/etc/motd", "content": "fixture\n"},
            {"path": "/usr/bin/hello", "content": "#!/bin/sh\necho hi\n", "mode": "0755"}
        ]
    }))
    .expect("apk recipe")
}

pub fn dpkg_recipe() -> Recipe {
    serde_json::from_value(serde_json::json!({
        "name": "debian-slim",
        "os_release": {
            "id": "debian",
            "name": "Debian GNU/Linux",
            "version_id": "12",
            "version_codename": "bookworm",
            "pretty_name": "Debian GNU/Linux 12 (bookworm)"
        },
        "package_db": "dpkg",
        "packages": [
            {"name": "libc6", "version": "2.36-9+deb12u9", "arch": "amd64", "license": "LGPL-2.1"},
            {"name": "base-files", "version": "12.4+deb12u8", "arch": "amd64", "license": "GPL-2.0-or-later"},
            {"name": "openssl", "version": "3.0.15-1~deb12u1", "arch": "amd64", "license": "Apache-2.0"}
        ]
    }))
    .expect("dpkg recipe")
}
