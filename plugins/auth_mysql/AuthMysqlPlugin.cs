using Broker.Plugins.Auth;
using MySqlConnector;

namespace Broker.Plugins.AuthMysql;

/// <summary>
/// EMQX 4's <c>emqx_auth_mysql</c> on MySQL or MariaDB through MySqlConnector: clients authenticated by the
/// <c>mqtt_user</c> table, superusers and ACL rows from <c>mqtt_user</c> / <c>mqtt_acl</c>, with EMQX's default queries,
/// so an existing EMQX database works unchanged. Hooks and failure policy: <see cref="AuthService"/>.
/// </summary>
public sealed class AuthMysqlPlugin : IBrokerPlugin
{
    private AuthService? _service;

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<AuthMysqlOptions>();
        var (host, port) = options.HostAndPort();
        var builder = new MySqlConnectionStringBuilder
        {
            Server = host,
            Port = (uint)port,
            UserID = options.Connection.Username,
            Password = options.Connection.Password,
            Database = options.Connection.Database,
            MaximumPoolSize = (uint)options.Connection.Pool,
            MinimumPoolSize = 0,
            ConnectionTimeout = (uint)Math.Max(1, Math.Ceiling(options.Connection.QueryTimeout.TotalSeconds)),
            CharacterSet = "utf8mb4",
            SslMode = MySqlSslMode.None,
        };
        if (options.Ssl.Enable)
        {
            builder.SslMode = options.Ssl.Verify ? MySqlSslMode.VerifyFull : MySqlSslMode.Required;
            builder.SslCa = options.Ssl.CaCertFile;
            builder.SslCert = options.Ssl.CertFile;
            builder.SslKey = options.Ssl.KeyFile;
        }
        var source = new MySqlDataSource(builder.ConnectionString);
        _service = new AuthService(context, new SqlAuthBackend("MySQL", source, options.AuthQuery, options.SuperQuery, options.AclQuery),
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
