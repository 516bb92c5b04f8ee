using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A throw-away PKI written as PEM files into a temp folder at test time (never committed): a test CA, a server
/// certificate for 127.0.0.1/localhost and a client certificate signed by it, and a second, unrelated CA with its own
/// client certificate. Deleted on dispose.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public const string ClientCommonName = "device-42";

    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");
    public string ServerCertFile => Path.Combine(Directory, "server.pem");
    public string ServerKeyFile => Path.Combine(Directory, "server.key");
    public string ClientCertFile => Path.Combine(Directory, "client.pem");
    public string ClientKeyFile => Path.Combine(Directory, "client.key");
    public string OtherCaFile => Path.Combine(Directory, "other-ca.pem");
    public string OtherClientCertFile => Path.Combine(Directory, "other-client.pem");
    public string OtherClientKeyFile => Path.Combine(Directory, "other-client.key");

    public static TestCertificates Create()
    {
        var certs = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("broker-certs-").FullName);
        using var ca = CreateCa("CN=Broker Test CA");
        using var otherCa = CreateCa("CN=Some Other CA");
        File.WriteAllText(certs.CaFile, ca.ExportCertificatePem());
        File.WriteAllText(certs.OtherCaFile, otherCa.ExportCertificatePem());
        Issue(ca, "CN=localhost", server: true, certs.ServerCertFile, certs.ServerKeyFile);
        Issue(ca, "CN=" + ClientCommonName, server: false, certs.ClientCertFile, certs.ClientKeyFile);
        Issue(otherCa, "CN=" + ClientCommonName, server: false, certs.OtherClientCertFile, certs.OtherClientKeyFile);
        return certs;
    }

    /// <summary>The broker settings for listener <paramref name="kind"/> (ssl, wss) on a free port with the test server certificate.</summary>
    public void Configure(BrokerOptions options, string kind)
    {
        options[$"listener.{kind}.external"] = "127.0.0.1:0";
        options[$"listener.{kind}.external.certfile"] = ServerCertFile;
        options[$"listener.{kind}.external.keyfile"] = ServerKeyFile;
        options[$"listener.{kind}.external.cacertfile"] = CaFile;
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static void Issue(X509Certificate2 issuer, string subject, bool server, string certFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var certificate = request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMonths(6), serial);
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
