using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Broker.Server.Listeners;
using Xunit;

namespace Broker.Server.Tests.Listeners;

/// <summary>TLS material of the ssl/wss listeners: the development certificate and the client-certificate check.</summary>
public sealed class ListenerTlsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("broker-tls-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Resolve(string path) => Path.GetFullPath(Path.Combine(_directory, path));

    [Fact]
    public void Load_NoCertfile_GeneratesDevelopmentCertificateOnce_KeyIsOwnerOnly()
    {
        var options = new SslListenerOptions();
        var first = ListenerTls.Load(options, Resolve, _directory, "node.example");
        Assert.True(first.Created);
        Assert.Equal(Path.Combine(_directory, "certs"), first.GeneratedInto);
        Assert.Equal("node.example", first.Certificate.GetNameInfo(X509NameType.SimpleName, false));
        Assert.True(first.Certificate.HasPrivateKey);
        var san = first.Certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("localhost", san.EnumerateDnsNames());
        Assert.Contains(System.Net.IPAddress.Loopback, san.EnumerateIPAddresses());
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_directory, "certs", "key.pem")));

        var again = ListenerTls.Load(new WssListenerOptions(), Resolve, _directory, "node.example");
        Assert.False(again.Created);
        Assert.Equal(first.Certificate.Thumbprint, again.Certificate.Thumbprint);
    }

    [Fact]
    public void Load_MissingCertfile_NamesTheKeyAndFile()
    {
        var options = new SslListenerOptions { CertFile = "missing.pem", KeyFile = "missing.key" };
        var ex = Assert.Throws<IOException>(() => ListenerTls.Load(options, Resolve, _directory, "n"));
        Assert.Contains("listener.ssl.external.certfile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("missing.pem", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ChainsToTrustedCa_OnlyCertificatesOfCacertfile()
    {
        using var ca = CreateCa("CN=Trusted");
        using var other = CreateCa("CN=Other");
        File.WriteAllText(Path.Combine(_directory, "ca.pem"), ca.ExportCertificatePem());
        var tls = ListenerTls.Load(
            new SslListenerOptions { CaCertFile = "ca.pem", Verify = PeerVerification.VerifyPeer, PeerCertAsUsername = PeerCertUsername.Cn },
            Resolve, _directory, "n");

        using var good = Issue(ca, "CN=device-1");
        using var bad = Issue(other, "CN=device-1");
        Assert.True(tls.ChainsToTrustedCa(good));
        Assert.False(tls.ChainsToTrustedCa(bad));
        Assert.Equal("device-1", tls.UsernameOf(good));
        Assert.Null(tls.UsernameOf(null));
    }

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 issuer, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        return request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMonths(1), [1, 2, 3, 4]);
    }
}
