"""Texts shared by the splitter and the normaliser tests."""

# Longer texts with every hard case in them, for the properties that must hold however the text arrives.
TEXTS = {
    "en": "Hello. I think that we should meet at 12:30 tomorrow, because Dr. Smith said the price went up 3.5% to "
    "$1,299.99, e.g. for the U.S. Market. That is all, thanks! And the next sentence is quite long without any "
    "punctuation at all so it must be cut somewhere near the maximum length which is one hundred and twenty "
    'characters. Mr. and Mrs. J. K. Rowling arrived at 5 p.m. Then they left; "it was 25°C outside..." Call '
    "555-123-4567 now!",
    "de": "Ich glaube, dass wir uns am 3. Mai um 14:30 Uhr treffen sollten. Wir brauchen Äpfel, Birnen, Bananen und "
    "Milch, z. B. für den Kuchen. Das kostet ca. 3,50 € pro Person, bzw. 1.000 Euro insgesamt, weil es teuer ist. "
    "Er wurde am 1. Januar 1999 geboren, Obst usw. Die Temperatur lag bei -5 °C und der Preis stieg um 2,5 % auf "
    "1,5 Mio. Euro.",
    "zh": "我今天买了两个iPhone 15，花了12,999元。你觉得怎么样？我觉得还可以吧但是有点贵了因为价格涨了3.5%所以我们"
    "应该再考虑一下然后再决定要不要买这个东西呢好的。他说：“你好！”然后在2024年3月5日下午3:30离开了，温度是-5℃，"
    "GPT-4和ChatGPT都很好用。",
    "ko": "안녕하세요. 저는 오늘 오후 3시에 사과 3개를 샀는데, 가격이 ₩12,000이었어요. 너무 비싸지만 맛있어서 다시 "
    "사고 싶고 내일도 시장에 가서 친구들과 함께 과일을 더 많이 사려고 합니다. 갤럭시 S24는 2024년 1월에 출시됐고, "
    "가격은 $799였습니다! 온도는 25.5°C, 습도는 60%입니다.",
}
