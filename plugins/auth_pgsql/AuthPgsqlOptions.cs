using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthPgsql;

/// <summary>
/// etc/plugins/auth_pgsql.conf: EMQX 4's <c>auth.pgsql.*</c> keys, with their defaults. The keys are the shared
/// <see cref="SqlAuthOptions"/> under the prefix <c>auth.pgsql</c>, plus PostgreSQL's <c>encoding</c>; PostgreSQL's
/// defaults are port 5432 and user root (EMQX 4's).
/// </summary>
[ConfPrefix("auth.pgsql")]
internal sealed class AuthPgsqlOptions : SqlAuthOptions
{
    public AuthPgsqlOptions()
        : base(defaultPort: 5432)
    {
        Connection.Username = "root";
    }

    /// <remarks>Default utf8.</remarks>
    [ConfKey("encoding", "The client encoding.")]
    public string Encoding { get; set; } = "utf8";
}
