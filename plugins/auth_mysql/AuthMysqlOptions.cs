using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthMysql;

/// <summary>
/// etc/plugins/auth_mysql.conf: EMQX 4's <c>auth.mysql.*</c> keys, with their defaults. The keys are the shared
/// <see cref="SqlAuthOptions"/> under the prefix <c>auth.mysql</c>; MySQL's defaults are port 3306 and no user name.
/// </summary>
[ConfPrefix("auth.mysql")]
internal sealed class AuthMysqlOptions : SqlAuthOptions
{
    public AuthMysqlOptions()
        : base(defaultPort: 3306)
    {
    }
}
