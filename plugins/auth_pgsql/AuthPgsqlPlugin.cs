using Broker.Plugins.Auth;
using Npgsql;

namespace Broker.Plugins.AuthPgsql;

/// <summary>
/// EMQX 4's <c>emqx_auth_pgsql</c> on PostgreSQL through Npgsql: clients authenticated by the <c>mqtt_user</c> table,
/// superusers and ACL rows from <c>mqtt_user</c> / <c>mqtt_acl</c>, with EMQX's default queries, so an existing EMQX
/// database works unchanged. Hooks and failure policy: <see cref="AuthService"/>.
/// </summary>
public sealed class AuthPgsqlPlugin : IBrokerPlugin
{
    private AuthService? _service;

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<AuthPgsqlOptions>();
        var (host, port) = options.HostAndPort();
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Username = options.Connection.Username,
            Password = options.Connection.Password.Length > 0 ? options.Connection.Password : null,
            Database = options.Connection.Database,
            MaxPoolSize = options.Connection.Pool,
            MinPoolSize = 0,
            Timeout = (int)Math.Clamp(Math.Ceiling(options.Connection.QueryTimeout.TotalSeconds), 1, 1024),
            ClientEncoding = options.Encoding,
            ApplicationName = "broker-auth_pgsql",
            SslMode = SslMode.Disable,
            // The three queries run for every CONNECT: prepared once per connection instead of parsed each time.
            MaxAutoPrepare = 8,
        };
        if (options.Ssl.Enable)
        {
            builder.SslMode = options.Ssl.Verify ? SslMode.VerifyFull : SslMode.Require;
            if (options.Ssl.CaCertFile.Length > 0)
                builder.RootCertificate = options.Ssl.CaCertFile;
            if (options.Ssl.CertFile.Length > 0)
            {
                builder.SslCertificate = options.Ssl.CertFile;
                builder.SslKey = options.Ssl.KeyFile;
            }
        }
        var source = NpgsqlDataSource.Create(builder);
        _service = new AuthService(context, new SqlAuthBackend("PostgreSQL", source, options.AuthQuery, options.SuperQuery, options.AclQuery),
            options.Settings());
        await _service.StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_service is not null)
            await _service.DisposeAsync().ConfigureAwait(false);
    }
}
