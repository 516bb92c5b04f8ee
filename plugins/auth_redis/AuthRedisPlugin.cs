using Broker.Plugins.Auth;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthRedis;

/// <summary>
/// EMQX 4's <c>emqx_auth_redis</c>: clients authenticated by a password stored in Redis, superusers and ACLs from
/// Redis hashes, with EMQX's default keys (<c>mqtt_user:&lt;username&gt;</c>, <c>mqtt_acl:&lt;username&gt;</c>), so an
/// existing EMQX Redis works unchanged. The hooks and failure policy are <see cref="AuthService"/>'s.
/// </summary>
public sealed class AuthRedisPlugin : IBrokerPlugin
{
    private AuthService? _service;

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<AuthRedisOptions>();
        var tls = options.Ssl.Enable ? options.Ssl.Load("auth.redis.ssl") : null;
        if (tls is not null)
        {
            var logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
            tls.Refused = reason => logger.LogWarning("{Plugin}: {Reason}", context.Name, reason);
        }
        var backend = await RedisAuthBackend.ConnectAsync(options, tls).ConfigureAwait(false);
        _service = new AuthService(context, backend,
            new AuthSettings(PasswordHash.Parse(options.PasswordHash), options.QueryTimeout, options.OnError, options.CacheOnOutage));
        await _service.StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_service is not null)
            await _service.DisposeAsync().ConfigureAwait(false);
    }
}
