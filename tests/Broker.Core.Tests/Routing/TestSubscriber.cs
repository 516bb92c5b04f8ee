using Broker.Core.Routing;

namespace Broker.Core.Tests.Routing;

internal sealed class TestSubscriber : ISubscriber
{
    private volatile bool _isConnected = true;

    public TestSubscriber(string clientId) => ClientId = clientId;

    public string ClientId { get; }

    public bool IsConnected
    {
        get => _isConnected;
        set => _isConnected = value;
    }

    public override string ToString() => ClientId;
}
