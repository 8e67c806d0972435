//! Certificates of the local control plane, made fresh for every run (rcgen,
//! aws-lc-rs): one CA that signs the API server's serving certificate and the
//! admin client certificate (`O=system:masters`), and the service-account
//! signing key. Nothing here outlives the run's private folder.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// PEM material the processes and the kubeconfig read.
pub struct Pki {
    pub ca_cert: String,
    pub server_cert: String,
    pub server_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    pub sa_key: String,
    pub sa_pub: String,
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    if let Some(o) = org {
        d.push(DnType::OrganizationName, o);
    }
    d.push(DnType::CommonName, cn);
    d
}

impl Pki {
    pub fn generate() -> Result<Pki, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name = dn("trustswap local control plane CA", None);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, &ca_key);

        let server_key = KeyPair::generate()?;
        let mut server = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])?;
        server
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        server.subject_alt_names.push(SanType::IpAddress(
            std::net::Ipv4Addr::new(10, 0, 0, 1).into(),
        ));
        server.distinguished_name = dn("kube-apiserver", None);
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let server_cert = server.signed_by(&server_key, &issuer)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = CertificateParams::default();
        admin.distinguished_name = dn("trustswap-admin", Some("system:masters"));
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let admin_cert = admin.signed_by(&admin_key, &issuer)?;

        let sa = KeyPair::generate()?;
        Ok(Pki {
            ca_cert: ca_cert.pem(),
            server_cert: server_cert.pem(),
            server_key: server_key.serialize_pem(),
            admin_cert: admin_cert.pem(),
            admin_key: admin_key.serialize_pem(),
            sa_key: sa.serialize_pem(),
            sa_pub: sa.public_key_pem(),
        })
    }

    /// An admin kubeconfig for `server` (`https://127.0.0.1:PORT`).
    pub fn kubeconfig(&self, server: &str) -> String {
        use base64::Engine as _;
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let doc = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "trustswap-local", "cluster": {
                "server": server,
                "certificate-authority-data": b(&self.ca_cert),
            }}],
            "users": [{"name": "trustswap-admin", "user": {
                "client-certificate-data": b(&self.admin_cert),
                "client-key-data": b(&self.admin_key),
            }}],
            "contexts": [{"name": "trustswap-local", "context": {
                "cluster": "trustswap-local",
                "user": "trustswap-admin",
            }}],
            "current-context": "trustswap-local",
        });
        // JSON is YAML: every kubeconfig reader takes it.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_is_a_system_master_and_the_server_answers_for_loopback() {
        let pki = Pki::generate().unwrap();
        let parse = |pem_text: &str| {
            use x509_cert::der::DecodePem as _;
            x509_cert::Certificate::from_pem(pem_text).unwrap()
        };
        let admin = parse(&pki.admin_cert);
        assert!(
            admin
                .tbs_certificate()
                .subject()
                .to_string()
                .contains("O=system:masters")
        );
        let server = parse(&pki.server_cert);
        let ca = parse(&pki.ca_cert);
        assert_eq!(
            server.tbs_certificate().issuer(),
            ca.tbs_certificate().subject()
        );
        let cfg: serde_json::Value =
            serde_json::from_str(&pki.kubeconfig("https://127.0.0.1:1")).unwrap();
        assert_eq!(cfg["current-context"], "trustswap-local");
        assert!(pki.sa_pub.contains("PUBLIC KEY"));
    }
}
