using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Broker.Plugins.Auth;

/// <summary>
/// <see cref="BackendTlsOptions"/>, loaded: the CA that signs the server's certificate
/// (<c>cacertfile</c>; empty = the system's roots), this client's certificate and key (<c>certfile</c>, <c>keyfile</c>;
/// PEM; both or neither), and whether the server's certificate is checked at all (<c>verify</c>).
/// </summary>
public sealed class TlsSettings
{
    private TlsSettings(X509Certificate2? ca, X509Certificate2? client, bool verify)
    {
        CertificateAuthority = ca;
        ClientCertificate = client;
        Verify = verify;
    }

    /// <summary>The CA certificate, or null for the system's roots.</summary>
    public X509Certificate2? CertificateAuthority { get; }

    /// <summary>The client certificate with its key, or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Whether the server's certificate must be valid.</summary>
    public bool Verify { get; }

    /// <summary>Loads the files (<see cref="BackendTlsOptions.Load"/>; its validation pairs certfile with keyfile).</summary>
    /// <exception cref="PluginConfigurationException">A file is missing or not PEM; the message names <paramref name="key"/>.</exception>
    internal static TlsSettings Load(string key, string caFile, string certFile, string keyFile, bool verify)
    {
        try
        {
            var ca = caFile.Length > 0 ? X509CertificateLoader.LoadCertificateFromFile(caFile) : null;
            var client = certFile.Length > 0 ? X509Certificate2.CreateFromPemFile(certFile, keyFile) : null;
            return new TlsSettings(ca, client, verify);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new PluginConfigurationException($"{key}: {ex.Message}");
        }
    }

    /// <summary>Called with the reason each time the server's certificate is refused (drivers only say "no connection").</summary>
    public Action<string>? Refused { get; set; }

    /// <summary>The server certificate check: with <see cref="CertificateAuthority"/> the chain must end at it.</summary>
    public bool ValidateServer(object? sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (!Verify)
            return true;
        string? refusal;
        if (CertificateAuthority is null)
        {
            refusal = errors == SslPolicyErrors.None ? null : errors.ToString();
        }
        else if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            refusal = errors.ToString();
        }
        else
        {
            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.Add(CertificateAuthority);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            refusal = custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()))
                ? null
                : $"not signed by the CA of ssl.cacertfile ({CertificateAuthority.Subject})";
        }
        if (refusal is not null)
            Refused?.Invoke($"the server's certificate{(certificate is null ? "" : $" {certificate.Subject}")} was refused: {refusal}");
        return refusal is null;
    }
}
