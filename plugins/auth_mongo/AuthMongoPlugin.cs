using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthMongo;

/// <summary>
/// EMQX 4's <c>emqx_auth_mongo</c> through the official MongoDB driver: clients authenticated by the <c>mqtt_user</c>
/// collection, superusers from it and ACL documents from <c>mqtt_acl</c>, with EMQX's defaults, so an existing EMQX
/// database works unchanged. Hooks and failure policy: <see cref="AuthService"/>.
/// </summary>
public sealed class AuthMongoPlugin : IBrokerPlugin
{
    private AuthService? _service;

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<AuthMongoOptions>();
        var tls = options.Ssl.Enable ? options.Ssl.Load("auth.mongo.ssl") : null;
        if (tls is not null)
        {
            var logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
            tls.Refused = reason => logger.LogWarning("{Plugin}: {Reason}", context.Name, reason);
        }
        _service = new AuthService(context, new MongoAuthBackend(options, tls),
            new AuthSettings(PasswordHash.Parse(options.PasswordHash), options.Connection.QueryTimeout, options.OnError, options.CacheOnOutage));
        await _service.StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_service is not null)
            await _service.DisposeAsync().ConfigureAwait(false);
    }
}
