using Broker.Core.Connections;
using Broker.Core.Sessions;
using Broker.Core.Tests.TestTransport;
using Xunit;

namespace Broker.Core.Tests.Connections;

public sealed class DeadlineHeapTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly List<(string Name, DateTimeOffset At)> _fired = [];

    private sealed class Owner(string name, DeadlineHeapTests test) : IDeadlineOwner
    {
        public string Name => name;

        public int DeadlineSlot { get; set; } = -1;

        public Action? Then { get; set; }

        public void OnDeadline()
        {
            lock (test._fired)
                test._fired.Add((name, test._time.GetUtcNow()));
            Then?.Invoke();
        }
    }

    private DateTimeOffset Start { get; }

    public DeadlineHeapTests() => Start = _time.GetUtcNow();

    private TimeSpan FiredAfter(string name) => _fired.Single(f => f.Name == name).At - Start;

    [Fact]
    public void EachOwner_IsCalledAtItsOwnDueTime_InDueOrder()
    {
        var heap = new DeadlineHeap(_time);
        heap.Schedule(new Owner("c", this), TimeSpan.FromSeconds(30));
        heap.Schedule(new Owner("a", this), TimeSpan.FromSeconds(10));
        heap.Schedule(new Owner("b", this), TimeSpan.FromSeconds(15));

        _time.Advance(TimeSpan.FromSeconds(14.9));
        Assert.Equal(["a"], _fired.Select(f => f.Name));
        Assert.Equal(TimeSpan.FromSeconds(10), FiredAfter("a"));

        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(["a", "b", "c"], _fired.Select(f => f.Name));
        Assert.Equal(TimeSpan.FromSeconds(15), FiredAfter("b"));
        Assert.Equal(TimeSpan.FromSeconds(30), FiredAfter("c"));
        Assert.Equal(0, heap.Count);
    }

    [Fact]
    public void Schedule_AgainForTheSameOwner_MovesItsDeadline_EarlierOrLater()
    {
        var heap = new DeadlineHeap(_time);
        var later = new Owner("later", this);
        var earlier = new Owner("earlier", this);
        heap.Schedule(later, TimeSpan.FromSeconds(5));
        heap.Schedule(earlier, TimeSpan.FromSeconds(20));

        heap.Schedule(later, TimeSpan.FromSeconds(25));
        heap.Schedule(earlier, TimeSpan.FromSeconds(2));
        Assert.Equal(2, heap.Count);

        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["earlier", "later"], _fired.Select(f => f.Name));
        Assert.Equal(TimeSpan.FromSeconds(2), FiredAfter("earlier"));
        Assert.Equal(TimeSpan.FromSeconds(25), FiredAfter("later"));
    }

    [Fact]
    public void Cancel_TheEarliest_ItIsNeverCalled_AndTheNextStillIsOnTime()
    {
        var heap = new DeadlineHeap(_time);
        var cancelled = new Owner("cancelled", this);
        heap.Schedule(cancelled, TimeSpan.FromSeconds(1));
        heap.Schedule(new Owner("kept", this), TimeSpan.FromSeconds(3));

        heap.Cancel(cancelled);
        heap.Cancel(cancelled); // no deadline: nothing happens

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(["kept"], _fired.Select(f => f.Name));
        Assert.Equal(TimeSpan.FromSeconds(3), FiredAfter("kept"));
        Assert.Equal(-1, cancelled.DeadlineSlot);
    }

    [Fact]
    public void AnOwnerThatReschedulesItselfWhenCalled_IsCalledAgainAtTheNewTime()
    {
        // What a connection does when its keep-alive deadline comes but a packet arrived meanwhile.
        var heap = new DeadlineHeap(_time);
        var owner = new Owner("again", this);
        var calls = 0;
        owner.Then = () =>
        {
            if (++calls < 3)
                heap.Schedule(owner, TimeSpan.FromSeconds(4));
        };
        heap.Schedule(owner, TimeSpan.FromSeconds(4));

        _time.Advance(TimeSpan.FromSeconds(60));

        Assert.Equal([4, 8, 12], _fired.Select(f => (f.At - Start).TotalSeconds));
        Assert.Equal(0, heap.Count);
    }

    [Fact]
    public void ManyOwners_RandomlyScheduledMovedAndCancelled_FireExactlyAtTheirLastDeadlines()
    {
        var heap = new DeadlineHeap(_time);
        var random = new Random(11);
        var owners = Enumerable.Range(0, 2000).Select(i => new Owner(i.ToString(System.Globalization.CultureInfo.InvariantCulture), this)).ToArray();
        var expected = new Dictionary<string, TimeSpan>();
        for (var step = 0; step < 20_000; step++)
        {
            var owner = owners[random.Next(owners.Length)];
            if (random.Next(4) == 0)
            {
                heap.Cancel(owner);
                expected.Remove(owner.Name);
            }
            else
            {
                var due = TimeSpan.FromMilliseconds(random.Next(1, 100_000));
                heap.Schedule(owner, due);
                expected[owner.Name] = due;
            }
        }
        Assert.Equal(expected.Count, heap.Count);

        _time.Advance(TimeSpan.FromSeconds(200));

        Assert.Equal(expected.Count, _fired.Count);
        foreach (var (name, at) in _fired)
            Assert.Equal(expected[name], at - Start);
        Assert.Equal(_fired.OrderBy(f => f.At).Select(f => f.At), _fired.Select(f => f.At));
        Assert.Equal(0, heap.Count);
    }
}
