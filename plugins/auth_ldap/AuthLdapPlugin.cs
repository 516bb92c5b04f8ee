using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthLdap;

/// <summary>
/// EMQX 4's <c>emqx_auth_ldap</c>: a client is the entry of class <c>mqttUser</c> whose <c>uid</c> is its user name
/// under <c>device_dn</c>; its <c>userPassword</c> (plain or RFC 2307 <c>{SSHA}</c>...) or a bind as that entry checks
/// the password; <c>isSuperuser: TRUE</c> makes it a superuser; <c>mqttPublishTopic</c>, <c>mqttSubscriptionTopic</c>
/// and <c>mqttPubSubTopic</c> are the topics it is allowed (a topic not listed is left to the next source). The hooks
/// and failure policy are <see cref="AuthService"/>'s.
/// </summary>
public sealed partial class AuthLdapPlugin : IBrokerPlugin
{
    private AuthService? _service;

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<AuthLdapOptions>();
        foreach (var (key, file) in new[] { ("cacertfile", options.Ssl.CaCertFile), ("certfile", options.Ssl.CertFile), ("keyfile", options.Ssl.KeyFile) })
        {
            // libldap reads them at the first connection and says only "connect error": name the key now.
            if ((options.Ssl.Enable || options.Ssl.StartTls) && file.Length > 0 && !File.Exists(file))
                throw new PluginConfigurationException($"auth.ldap.ssl.{key} = {file}: no such file");
        }
        var backend = new LdapAuthBackend(options);
        LogSearch(context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name), context.Name, backend.Search,
            options.BindAsUser ? "a bind as the entry" : options.PasswordAttribute,
            options.Ssl.Enable ? "ldaps" : options.Ssl.StartTls ? "StartTLS" : "none");
        _service = new AuthService(context, backend,
            new AuthSettings(PasswordHash.Parse("plain"), options.Timeout, options.OnError, options.CacheOnOutage));
        await _service.StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_service is not null)
            await _service.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "{Plugin}: searching {Search}; password checked by {Check}; TLS {Tls}")]
    private static partial void LogSearch(ILogger logger, string plugin, string search, string check, string tls);
}
