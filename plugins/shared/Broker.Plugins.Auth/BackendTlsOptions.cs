namespace Broker.Plugins.Auth;

/// <summary>
/// EMQX 4's <c>ssl.*</c> keys of a connection to a backend, written once for every auth plugin: the CA that signs the
/// server's certificate, this client's certificate and key, and whether the server's certificate is checked. A plugin
/// binds them under its own keys, <c>[ConfSection("auth.http.ssl")] public HttpTlsOptions Ssl { get; } = new();</c>,
/// and adds its own keys in a subclass (auth_http's <c>server_name_indication</c>). This class has no switch: for
/// auth_http the URL's scheme decides; <see cref="SwitchedBackendTlsOptions"/> adds EMQX's <c>ssl = on</c>.
/// </summary>
public class BackendTlsOptions : IValidatableOptions
{
    /// <remarks>Default empty (the system's roots).</remarks>
    [ConfKey("cacertfile", "PEM file of the CA that signed the server's certificate; empty = the system's trusted roots.")]
    public string CaCertFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("certfile", "PEM client certificate, when the server asks for one (with keyfile).")]
    public string CertFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("keyfile", "PEM key of certfile.")]
    public string KeyFile { get; set; } = "";

    /// <remarks>Default true. Virtual so that a plugin can word it for its backend (auth_ldap: which name is checked).</remarks>
    [ConfKey("verify", "Check the server's certificate (chain and host name). Turn off only for testing.")]
    public virtual bool Verify { get; set; } = true;

    /// <inheritdoc />
    /// <remarks>Keys are relative to the section (<c>certfile</c>), so the binder names <c>auth.redis.ssl.certfile</c>.</remarks>
    public virtual IEnumerable<(string Key, string Error)> Validate()
    {
        if (CertFile.Length > 0 != KeyFile.Length > 0)
            yield return ("certfile", "certfile and keyfile go together: set both or neither");
    }

    /// <summary>Loads the files.</summary>
    /// <param name="key">The section's full key, for messages, e.g. <c>auth.redis.ssl</c>.</param>
    /// <exception cref="PluginConfigurationException">A file is missing or not PEM; the message names the key.</exception>
    public TlsSettings Load(string key) => TlsSettings.Load(key, CaCertFile, CertFile, KeyFile, Verify);
}

/// <summary>
/// <see cref="BackendTlsOptions"/> with EMQX 4's switch, the section's own value: <c>auth.redis.ssl = on</c> beside the
/// <c>auth.redis.ssl.*</c> keys it turns on. auth_redis, auth_mongo, auth_mysql and auth_pgsql.
/// </summary>
public class SwitchedBackendTlsOptions : BackendTlsOptions
{
    /// <remarks>Default off.</remarks>
    [ConfKey("", "Connect to the server over TLS (on/off); the ssl.* keys below apply when on.")]
    public bool Enable { get; set; }
}
