using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Broker.Server.Listeners;

/// <summary>
/// The TLS side of the ssl and wss listeners: the server certificate (configured PEM files, or the development
/// certificate generated under data/certs/), the CA client certificates must chain to, and the TLS options built from
/// them: OpenSSL's context for ssl (<see cref="TlsServerContext"/>, from the same files), Kestrel's for wss. Private keys
/// are read into memory and never logged.
/// </summary>
internal sealed class ListenerTls
{
    public const string DevCertFile = "cert.pem";
    public const string DevKeyFile = "key.pem";

    private readonly X509Certificate2Collection _trusted;

    private ListenerTls(X509Certificate2 certificate, X509Certificate2Collection trusted, TlsListenerOptions options, string? generatedInto,
        string certificatePath, string keyPath, string? caPath)
    {
        Certificate = certificate;
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        CaPath = caPath;
        _trusted = trusted;
        Options = options;
        GeneratedInto = generatedInto;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The files it was loaded from, for OpenSSL (<see cref="TlsServerContext"/>): the chain, the key, cacertfile (null when not set).</summary>
    public string CertificatePath { get; }

    public string KeyPath { get; }

    public string? CaPath { get; }

    public TlsListenerOptions Options { get; }

    /// <summary>The folder of the development certificate when it is used (generated now or earlier); null for configured files.</summary>
    public string? GeneratedInto { get; }

    /// <summary>True when the development certificate was created by this call (first start).</summary>
    public bool Created { get; private init; }

    /// <summary>
    /// Loads the configured certificate or the development one (creating it on first use). Throws
    /// <see cref="IOException"/>, <see cref="CryptographicException"/> or <see cref="UnauthorizedAccessException"/>
    /// naming the file when something cannot be used.
    /// </summary>
    public static ListenerTls Load(TlsListenerOptions options, Func<string, string> resolveEtcPath, string dataDirectory, string nodeHost)
    {
        var trusted = new X509Certificate2Collection();
        string? ca = null;
        if (options.CaCertFile.Trim().Length > 0)
        {
            ca = resolveEtcPath(options.CaCertFile.Trim());
            try
            {
                trusted.ImportFromPemFile(ca);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException)
            {
                throw new IOException($"{options.KeyPrefix}.cacertfile: cannot read {ca}: {ex.Message}", ex);
            }
            if (trusted.Count == 0)
                throw new IOException($"{options.KeyPrefix}.cacertfile: {ca} holds no PEM certificate");
        }

        if (options.CertFile.Trim().Length > 0)
        {
            var cert = resolveEtcPath(options.CertFile.Trim());
            var key = resolveEtcPath(options.KeyFile.Trim());
            try
            {
                return new ListenerTls(X509Certificate2.CreateFromPemFile(cert, key), trusted, options, null, cert, key, ca);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException)
            {
                // The message names the files, never their content.
                throw new IOException($"{options.KeyPrefix}.certfile/keyfile: cannot load {cert} with {key}: {ex.Message}", ex);
            }
        }

        var folder = Path.Combine(dataDirectory, "certs");
        var certPath = Path.Combine(folder, DevCertFile);
        var keyPath = Path.Combine(folder, DevKeyFile);
        var created = false;
        lock (DevCertLock)
        {
            if (!File.Exists(certPath) || !File.Exists(keyPath))
            {
                CreateDevelopmentCertificate(folder, certPath, keyPath, nodeHost);
                created = true;
            }
        }
        return new ListenerTls(X509Certificate2.CreateFromPemFile(certPath, keyPath), trusted, options, folder, certPath, keyPath, ca) { Created = created };
    }

    /// <summary>ssl and wss share one development certificate; they load it one after the other.</summary>
    private static readonly Lock DevCertLock = new();

    /// <summary>How long a client has for its TLS handshake before its connection is closed.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Kestrel's TLS options for a wss listener: TLS 1.2/1.3, client certificates as configured (ssl: <see cref="TlsServerContext"/>).</summary>
    public HttpsConnectionAdapterOptions CreateHttpsOptions() => new()
    {
        ServerCertificate = Certificate,
        SslProtocols = Options.Protocols,
        HandshakeTimeout = HandshakeTimeout,
        CheckCertificateRevocation = false,
        ClientCertificateMode = Options.Verify != PeerVerification.VerifyPeer ? ClientCertificateMode.NoCertificate
            : Options.FailIfNoPeerCert ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate,
        ClientCertificateValidation = (certificate, _, _) => ChainsToTrustedCa(certificate),
    };

    /// <summary>
    /// A client certificate is good when it chains to one of cacertfile's certificates, and to nothing else: the
    /// system store is not consulted (CustomRootTrust). Revocation is not checked (no CRL/OCSP configuration yet).
    /// </summary>
    public bool ChainsToTrustedCa(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        chain.ChainPolicy.ExtraStore.AddRange(_trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        return chain.Build(certificate);
    }

    /// <summary>The username <c>peer_cert_as_username</c> takes from a client certificate; null when not configured or no certificate.</summary>
    public string? UsernameOf(X509Certificate2? clientCertificate) =>
        Options.PeerCertAsUsername == PeerCertUsername.Cn && clientCertificate is not null
            ? clientCertificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false)
            : null;

    private static void CreateDevelopmentCertificate(string folder, string certPath, string keyPath, string nodeHost)
    {
        Directory.CreateDirectory(folder);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + nodeHost), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        if (IPAddress.TryParse(nodeHost, out var address))
            san.AddIpAddress(address);
        else if (nodeHost != "localhost" && Uri.CheckHostName(nodeHost) == UriHostNameType.Dns)
            san.AddDnsName(nodeHost);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));

        // The key first and 0600 from its creation, so it is never readable by others, not even for a moment.
        var secret = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            secret.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var writer = new StreamWriter(keyPath, System.Text.Encoding.ASCII, secret))
            writer.Write(key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
    }
}
